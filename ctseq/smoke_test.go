package ctseq

import "testing"

func TestSmoke(t *testing.T) {
	var w Word
	w.UserEnter()
	if !w.SetWorkIfUser(Of(3)) {
		t.Fatal("refused")
	}
	if got := w.KernelEnter(); got != Of(3) {
		t.Fatal(got)
	}
}
