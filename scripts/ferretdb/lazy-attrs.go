package main

import (
	"context"
	"log/slog"
)

// FerretDB 1.24 builds a logger with every SQL statement's arguments (tx.l.With(slog.Any("args", args))),
// twice per statement, for a debug line that is then dropped: slog's text handler formats the attributes
// at With, so each insert of a thousand documents quoted all of them twice (7% of FerretDB's CPU under the
// benchmark's load). lazyAttrs keeps With and WithGroup as steps applied only when a record is handled.
type lazyAttrs struct {
	base  slog.Handler
	steps []func(slog.Handler) slog.Handler
}

func (h lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

func (h lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	out := h.base
	for _, step := range h.steps {
		out = step(out)
	}
	return out.Handle(ctx, r)
}

func (h lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h lazyAttrs) WithGroup(name string) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

func (h lazyAttrs) with(step func(slog.Handler) slog.Handler) slog.Handler {
	steps := make([]func(slog.Handler) slog.Handler, len(h.steps), len(h.steps)+1)
	copy(steps, h.steps)
	return lazyAttrs{base: h.base, steps: append(steps, step)}
}
