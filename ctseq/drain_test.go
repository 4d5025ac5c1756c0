package ctseq_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer/ctseq"
)

// Drain runs each pending bit once, lowest first, and Drain(0) runs nothing.
// Mutants caught: none.
func TestTableDrainOrderExactlyOnce(t *testing.T) {
	var ran []int
	tab := recordingTable(&ran)
	require.Equal(t, ctseq.Work(0xffff), tab.Registered(), "every bit registered")
	tab.Drain(ctseq.Of(9) | ctseq.Of(0) | ctseq.Of(15) | ctseq.Of(3))
	require.Equal(t, []int{0, 3, 9, 15}, ran, "Drain runs each bit once, lowest first")
	ran = ran[:0]
	tab.Drain(0)
	require.Empty(t, ran, "Drain(0) runs nothing")
}

// Mutant caught: drain-panic-drops-rest.
func TestTableDrainHandlerPanic(t *testing.T) {
	var ran []int
	tab := recordingTable(&ran)
	boom := errors.New("boom")
	tab.Set(2, func() { ran = append(ran, 2); panic(boom) })
	tab.Set(5, func() { ran = append(ran, 5); panic("second") })
	tab.Set(7, func() { ran = append(ran, 7); panic("third") })

	var r any
	func() {
		defer func() { r = recover() }()
		tab.Drain(ctseq.Of(1) | ctseq.Of(2) | ctseq.Of(5) | ctseq.Of(6) | ctseq.Of(7) | ctseq.Of(8))
	}()
	require.Equal(t, []int{1, 2, 5, 6, 7, 8}, ran, "a panicking handler must not lose the others, nor run any twice")
	hp, ok := r.(*ctseq.HandlerPanic)
	require.True(t, ok, "Drain must panic with *ctseq.HandlerPanic, got %T", r)
	require.Equal(t, int(2), hp.Bit, "the first panicking bit is reported")
	require.Equal(t, boom, hp.Value, "the first panic value is reported")
	require.Equal(t, 2, hp.Others, "the later panics are counted")
	require.NotEmpty(t, hp.Stack, "the first panic's stack is kept")
	require.ErrorIs(t, hp, boom, "HandlerPanic unwraps an error value")
	require.Contains(t, hp.Error(), "bit 2", "the message names the bit")
	require.Contains(t, hp.Error(), "2 more", "the message counts the others")
}

// TestTableRunReturnsThePanic: Run runs every bit, like Drain, and returns
// the *HandlerPanic Drain would raise instead of raising it; nil when no
// handler panicked.
// Mutants caught: none.
func TestTableRunReturnsThePanic(t *testing.T) {
	var ran []int
	tab := recordingTable(&ran)
	require.Nil(t, tab.Run(ctseq.Of(4)|ctseq.Of(1)), "no panic, nil")
	require.Equal(t, []int{1, 4}, ran, "Run runs each bit once, lowest first")
	require.Nil(t, tab.Run(0), "Run(0) runs nothing")

	ran = ran[:0]
	tab.Set(3, func() { ran = append(ran, 3); panic("boom") })
	var hp *ctseq.HandlerPanic
	require.NotPanics(t, func() { hp = tab.Run(ctseq.Of(3) | ctseq.Of(8)) }, "Run returns the panic")
	require.Equal(t, []int{3, 8}, ran, "the bits after the panicking one still run")
	require.NotNil(t, hp)
	require.Equal(t, int(3), hp.Bit)
	require.Equal(t, "boom", hp.Value)
}

// A bit without a handler does not stop the others: Drain runs them and then
// panics with a *HandlerPanic naming the bit.
// Mutants caught: none.
func TestTableDrainMissingHandler(t *testing.T) {
	var ran []int
	var tab ctseq.Table
	tab.Set(0, func() { ran = append(ran, 0) })
	tab.Set(4, func() { ran = append(ran, 4) })
	require.Equal(t, ctseq.Of(0)|ctseq.Of(4), tab.Registered(), "Registered lists set bits")

	var r any
	func() {
		defer func() { r = recover() }()
		tab.Drain(ctseq.Of(0) | ctseq.Of(3) | ctseq.Of(4))
	}()
	require.Equal(t, []int{0, 4}, ran, "a missing handler must not stop the others")
	hp, ok := r.(*ctseq.HandlerPanic)
	require.True(t, ok, "a missing handler panics with *ctseq.HandlerPanic, got %T", r)
	require.Equal(t, int(3), hp.Bit, "the missing bit is reported")
	require.Zero(t, hp.Others, "only one problem")
	require.Contains(t, fmt.Sprint(hp.Value), "ctseq: Table.Drain: no handler for bit 3", "the value names the missing bit")
}

// A handler that calls runtime.Goexit is treated like one that panics: the
// bits after it still run, each once and in order, before the goroutine
// ends, and the deferred calls of Drain's caller run after all of them.
// Two Goexits in one drain, and a panic after a Goexit (raised once the
// others have run) are handled alike.
// Mutant caught: drain-goexit-loses-rest.
func TestTableDrainHandlerGoexit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		exit  []int // handlers that call runtime.Goexit
		panic int   // a handler that panics, if not 0
	}{
		{"one", []int{1}, 0},
		{"two", []int{1, 3}, 0},
		{"last", []int{4}, 0},
		{"then-panic", []int{1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []int
			var tab ctseq.Table
			for b := 0; b <= 4; b++ {
				tab.Set(b, func() {
					ran = append(ran, b)
					if b == tc.panic && b != 0 {
						panic("boom")
					}
					for _, e := range tc.exit {
						if e == b {
							runtime.Goexit()
						}
					}
				})
			}
			var ranAtCallerDefer []int
			var p any
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { p = recover() }()
				defer func() { ranAtCallerDefer = append([]int(nil), ran...) }()
				tab.Drain(ctseq.Work(0b11111))
				t.Error("Drain returned after a handler's Goexit")
			}()
			<-done
			want := []int{0, 1, 2, 3, 4}
			require.Equal(t, want, ran, "every handler ran once, in order")
			require.Equal(t, want, ranAtCallerDefer, "the caller's deferred calls follow every handler")
			if tc.panic != 0 {
				var hp *ctseq.HandlerPanic
				require.True(t, errors.As(p.(error), &hp), "the panic after the Goexit is raised: %v", p)
				require.Equal(t, tc.panic, hp.Bit)
			} else {
				require.Nil(t, p, "a Goexit is not a panic")
			}
		})
	}
}
