package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/mycelia-kernel/storage/dump"
)

// How often progress is drawn: a bar is redrawn at most every barInterval,
// a plain line printed at most every lineInterval (tests lower it).
var (
	barInterval  = 100 * time.Millisecond
	lineInterval = 5 * time.Second
)

type progressMode int

const (
	progressNone progressMode = iota
	progressBar
	progressLines
)

// progress draws dump.Progress on stderr: a bar with rate and ETA on a
// terminal, plain periodic lines otherwise. Its methods are called from one
// goroutine at a time (the export's or the import's).
type progress struct {
	mode       progressMode
	w          io.Writer
	cols       int // the terminal's width for the bar; 0 when unknown
	verb       string
	totalBytes int64 // the input's size when known (import from a file)
	last       time.Time
	drawn      bool
	lastP      dump.Progress
}

func (c *cli) newProgress(verb string, totalBytes int64) *progress {
	// last is the start: the first plain line comes one lineInterval
	// after it (a run that ends sooner prints its summary alone).
	p := &progress{w: c.stderr, verb: verb, totalBytes: totalBytes, last: time.Now()}
	switch c.progress {
	case "none":
	case "bar":
		p.mode = progressBar
	case "lines":
		p.mode = progressLines
	default:
		p.mode = progressLines
		if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p.mode = progressBar
		}
	}
	if f, ok := c.stderr.(*os.File); ok && p.mode == progressBar {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			p.cols = w
		}
	}
	if c.quiet {
		p.mode = progressNone
	}
	return p
}

// fraction is how far along p is, from bytes when the size is known, else
// from entries; ok is false when neither total is known.
func (p *progress) fraction(x dump.Progress) (float64, bool) {
	switch {
	case p.totalBytes > 0:
		return min(1, float64(x.Bytes)/float64(p.totalBytes)), true
	case x.TotalEntries > 0:
		return min(1, float64(x.Entries)/float64(x.TotalEntries)), true
	}
	return 0, false
}

func (p *progress) eta(x dump.Progress, f float64) string {
	if f <= 0 || x.Elapsed <= 0 {
		return "?"
	}
	left := time.Duration(float64(x.Elapsed) * (1 - f) / f)
	return left.Round(time.Second).String()
}

func (p *progress) update(x dump.Progress) {
	if p.mode == progressNone {
		return
	}
	p.lastP = x
	now := time.Now()
	switch p.mode {
	case progressBar:
		if !x.Done && now.Sub(p.last) < barInterval {
			return
		}
		p.last = now
		p.drawBar(x)
	case progressLines:
		if x.Done || now.Sub(p.last) < lineInterval {
			return // the summary follows the last one
		}
		p.last = now
		line := fmt.Sprintf("%s: %s, %s, %s, %s", p.verb, entries(x.Entries), namespaces(x.Namespaces),
			humanBytes(x.Bytes), rate(x.Entries, x.Elapsed))
		if f, ok := p.fraction(x); ok {
			line += fmt.Sprintf(", %.0f%%, ETA %s", 100*f, p.eta(x, f))
		}
		fmt.Fprintln(p.w, line)
	}
}

// defaultCols is the width the bar assumes when the terminal's is unknown.
const defaultCols = 80

func (p *progress) drawBar(x dump.Progress) {
	fmt.Fprint(p.w, "\r"+p.barLine(x)+"\x1b[K") // \x1b[K clears the rest of the line
	p.drawn = true
}

// barLine is the bar's text: it never reaches the terminal's last column,
// so a redraw never wraps onto a new line. The bar itself shrinks first
// (down to 10 cells, then it goes), then the text is cut.
func (p *progress) barLine(x dump.Progress) string {
	cols := p.cols
	if cols <= 0 {
		cols = defaultCols
	}
	f, ok := p.fraction(x)
	tail := fmt.Sprintf(" %s  %s  %s", entries(x.Entries), humanBytes(x.Bytes), rate(x.Entries, x.Elapsed))
	if ok && !x.Done {
		tail += "  ETA " + p.eta(x, f)
	}
	head := p.verb
	if ok {
		pct := fmt.Sprintf(" %3.0f%%", 100*f)
		const maxBar, minBar = 30, 10
		width := min(maxBar, cols-1-utf8.RuneCountInString(head+pct+tail)-3)
		if width >= minBar {
			n := int(f * float64(width))
			head += " [" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
		}
		head += pct
	}
	return truncateRunes(head+tail, cols-1)
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// finish ends the bar's line.
func (p *progress) finish(error) {
	if p.mode == progressBar && p.drawn {
		p.drawBar(p.lastP)
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
