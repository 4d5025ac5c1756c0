package lazytlb_test

import (
	"bytes"
	"context"
	"runtime/trace"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctdefer/ctdefer"
	"github.com/ctdefer/ctdefer/lazytlb"
)

// While a trace is recorded, a Shootdown is a task named lazytlb.Shootdown.
// Mutants caught: none.
func TestShootdownTraceTask(t *testing.T) {
	d, err := ctdefer.New(ctdefer.Options{CPUs: []int{0}, Unpinned: true})
	require.NoError(t, err)
	defer func() { _ = d.Close(context.Background()) }()
	tlb, err := lazytlb.New(d, lazytlb.Options{Flush: func(int, *lazytlb.MM, uint64) {}})
	require.NoError(t, err)
	mm := tlb.NewMM("routes")
	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	_, err = tlb.Shootdown(context.Background(), mm)
	trace.Stop()
	require.NoError(t, err)
	name := "lazytlb.Shootdown"
	require.True(t, bytes.Contains(buf.Bytes(), append([]byte{byte(len(name))}, name...)), "the trace holds %q", name)
}
