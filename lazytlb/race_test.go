//go:build race

package lazytlb_test

const raceEnabled = true
