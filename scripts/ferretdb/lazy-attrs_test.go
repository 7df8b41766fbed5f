package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// countingHandler counts the WithAttrs calls that reach it.
type countingHandler struct {
	slog.Handler
	withAttrs *int
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	*h.withAttrs++
	return countingHandler{h.Handler.WithAttrs(attrs), h.withAttrs}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.withAttrs}
}

func TestLazyAttrsFormatsNothingForADroppedRecord(t *testing.T) {
	var out bytes.Buffer
	calls := 0
	text := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})
	logger := slog.New(lazyAttrs{base: countingHandler{text, &calls}})
	logger.With("args", strings.Repeat("x", 1000)).DebugContext(context.Background(), "dropped")
	if calls != 0 || out.Len() != 0 {
		t.Fatalf("a dropped debug record formatted its attributes: %d WithAttrs calls, output %q", calls, out.String())
	}
}

func TestLazyAttrsLogsAsTheTextHandlerDoes(t *testing.T) {
	var lazy, eager bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	log := func(l *slog.Logger) { l.With("a", 1).WithGroup("g").With("b", "two").Error("kept", "c", true) }
	log(slog.New(lazyAttrs{base: slog.NewTextHandler(&lazy, opts)}))
	log(slog.New(slog.NewTextHandler(&eager, opts)))
	if lazy.String() != eager.String() {
		t.Fatalf("lazy %q, text handler %q", lazy.String(), eager.String())
	}
}
