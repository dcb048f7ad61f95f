package browsertest

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mycelia-kernel/storage/console"
)

// newTab opens another tab of s's browser (its cookies: the same session)
// and returns a site on it.
func (s *site) newTab(t *testing.T) *site {
	t.Helper()
	tab, cancel := chromedp.NewContext(s.ctx)
	t.Cleanup(cancel)
	// The first Run opens the tab; it must not carry a timeout.
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	other := *s
	other.ctx = tab
	return &other
}

// waitTailState waits until the status page's #tail-state says want
// (exactly), for at most 20 s.
func (s *site) waitTailState(want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.text("#tail-state")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the live tail says %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveTailStopped: the live tail says that it stopped, and why, when
// the server refuses it (here a second tail of a principal allowed one:
// 429) and when the server ends it with a message (the session ended in
// another tab): the message as the server wrote it, not its JSON form.
// Before, the message was shown in JSON quotes ("The live tail stopped:
// \"your session ended: sign in again\"").
func TestLiveTailStopped(t *testing.T) {
	s := newSiteWith(t, func(c *console.Config) { c.MaxTailsPerPrincipal = 1 })
	s.signIn(readerToken)
	s.open("/console/status")
	s.do("wait for the live tail", chromedp.WaitVisible(chromedp.ID("tail-state")))
	s.waitTailState("Connected: new changes appear below.")

	// A second tail of the same principal is refused: the page says so,
	// and the browser does not keep asking.
	other := s.newTab(t)
	other.open("/console/status")
	other.do("wait for the live tail", chromedp.WaitVisible(chromedp.ID("tail-state")))
	other.waitTailState("The live tail stopped: the server refused it (too many open?). Reload the page to try again.")
	other.shot("tail-refused", false)

	// The session ends in the other tab: the server ends the first tail
	// with a message, shown as text.
	other.open("/console/status")
	other.signOut()
	s.waitTailState("The live tail stopped: your session ended: sign in again")
	s.shot("tail-session-ended", false)
}
