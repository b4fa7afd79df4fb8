package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// stderrIsTerminal reports whether progress bars have a person to show to.
// Piped or redirected output (scripts, CI, tests) gets none.
func stderrIsTerminal() bool {
	return term.IsTerminal(int(os.Stderr.Fd()))
}

// newBar returns a progress bar on stderr for a long operation of total
// units (bytes when bytes is true, sessions otherwise; -1 for a spinner),
// invisible unless e.progress is set. Call finishBar when done.
func newBar(e *env, total int64, description string, bytes bool) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetVisibility(e.progress),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
	} else {
		opts = append(opts, progressbar.OptionSetItsString("sessions"), progressbar.OptionShowIts())
	}
	return progressbar.NewOptions64(total, opts...)
}

// finishBar removes the bar from the terminal, leaving the command's own
// output alone.
func finishBar(bar *progressbar.ProgressBar) {
	_ = bar.Finish() // rendering errors on a terminal are not the command's failure
}

// countingWriter advances bar by the bytes written through it.
type countingWriter struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	_ = c.bar.Add(n)
	return n, err
}
