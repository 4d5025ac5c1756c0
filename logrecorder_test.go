package ctdefer_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder is a slog.Handler that keeps every record, for tests of
// Options.Logger.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRec
}

// logRec is one record: level, message and attributes as strings.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRec) String() string { return fmt.Sprintf("%v %q %v", r.level, r.msg, r.attrs) }

// newLogger returns a Logger that records into a new recorder.
func newLogger() (*slog.Logger, *logRecorder) {
	h := &logRecorder{}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// find returns the records whose message contains msg.
func (h *logRecorder) find(msg string) []logRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRec
	for _, r := range h.recs {
		if strings.Contains(r.msg, msg) {
			out = append(out, r)
		}
	}
	return out
}

// all returns every record, for failure messages.
func (h *logRecorder) all() []logRec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRec(nil), h.recs...)
}

// await waits until a record whose message contains msg arrives (or the
// hang limit passes) and returns the first.
func (h *logRecorder) await(t *testing.T, msg string) logRec {
	t.Helper()
	for end := time.Now().Add(hangLimit); ; time.Sleep(100 * time.Microsecond) {
		if rs := h.find(msg); len(rs) > 0 {
			return rs[0]
		}
		if time.Now().After(end) {
			t.Fatalf("no log record %q after %v; records: %v", msg, hangLimit, h.all())
		}
	}
}

// one asserts that exactly one record's message contains msg and returns it.
func (h *logRecorder) one(t *testing.T, msg string) logRec {
	t.Helper()
	rs := h.find(msg)
	if len(rs) != 1 {
		t.Fatalf("want one log record %q, got %d; records: %v", msg, len(rs), h.all())
	}
	return rs[0]
}
