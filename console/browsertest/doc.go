// Package browsertest drives the web console (package console) in a real
// browser: Debian's chromium, headless, through chromedp. It is a module of
// its own so that chromedp never reaches the library's go.mod.
//
// The tests serve the console on 127.0.0.1 and start Chromium with
// --host-resolver-rules="MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", so that no
// name resolves to anything but the test server; .ci/run also runs the test
// binary inside a network namespace that has only loopback (unshare -n).
// Without a chromium binary (CONSOLE_CHROMIUM or chromium on the PATH) the
// tests are skipped, or fail when CI=true.
//
// Screenshots of each page go to $CONSOLE_SCREENSHOTS when set, else to a
// directory under the test's temporary directory (its path is logged);
// -update-docs also writes the few that the README shows to docs/console/.
//
//	cd console/browsertest && go test -count=1 -v .
//	CONSOLE_SCREENSHOTS=/tmp/shots go test -count=1 .
package browsertest
