//go:build !(liburcu && linux)

// Command workload compares liburcu-qsbr and liburcu-memb with the QSBR
// and memb flavours on liburcu's own benchmark shape. It needs Linux, cgo, liburcu-dev and the
// build tag liburcu:
//
//	go run -tags liburcu ./bench/liburcu/workload
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "workload: build with -tags liburcu on Linux, with liburcu-dev installed: go run -tags liburcu ./bench/liburcu/workload")
	os.Exit(2)
}
