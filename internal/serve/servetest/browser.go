package servetest

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser starts Debian's Chromium (installed when missing) headless with a fresh profile and
// every background service off (otherwise it keeps dialling out), and returns a chromedp
// context for it.
func Browser(t testing.TB) context.Context {
	t.Helper()
	bin := NeedPackage(t, "chromium", "/usr/bin/chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}
