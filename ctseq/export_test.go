package ctseq

// Exports for the external tests (package ctseq_test), as the Go runtime's
// export_test.go does: names the package keeps unexported because no user of
// the word needs them.

// SeqBits is the width of the sequence counter (45; 2 under the
// ctdefer_narrowseq build tag).
const SeqBits = seqBits

// StateBits is the width of the state field.
const StateBits = stateBits

// Registered returns the set of bits that have a handler.
func (t *Table) Registered() Work { return t.registered() }

// Run is Drain that returns the panic instead of raising it.
func (t *Table) Run(work Work) *HandlerPanic { return t.run(work) }

// Lowest returns the lowest bit set in w, and false if w is empty.
func (w Work) Lowest() (int, bool) { return w.lowest() }
