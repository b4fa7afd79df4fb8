package browsertest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser, or skips (fails under
// BOLTSESSION_REQUIRE_CHROMIUM=1) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BOLTSESSION_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed and BOLTSESSION_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium is not installed (apt-get install chromium); set BOLTSESSION_REQUIRE_CHROMIUM=1 to make this a failure")
	return ""
}

// loginServer is the login example running as a process of its own.
type loginServer struct {
	t    *testing.T
	bin  string
	db   string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  strings.Builder
}

var servingLine = regexp.MustCompile(`msg=serving addr=(http://\S+)`)

// start runs the example on addr (127.0.0.1:0 the first time, the same
// port after a restart) and waits for its "serving" log line.
func (s *loginServer) start(addr string) {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(s.bin, "-addr", addr, "-db", s.db)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	select {
	case s.url = <-urls:
	case <-s.done:
		t.Fatalf("login example exited before serving:\n%s", s.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("login example did not start:\n%s", s.logs())
	}
}

// stop sends SIGTERM and waits: the example shuts down gracefully and
// closes its store, as a deploy would.
func (s *loginServer) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("login example did not stop:\n%s", s.logs())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("login example exited with %d:\n%s", code, s.logs())
	}
}

func (s *loginServer) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// buildLogin compiles examples/login from this repository.
func buildLogin(t *testing.T) string {
	t.Helper()
	examples, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "login")
	cmd := exec.Command("go", "build", "-o", bin, "./login")
	cmd.Dir = examples
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/login: %v\n%s", err, out)
	}
	return bin
}

// within runs one action with a timeout, on a context whose tab exists
// already (a timeout on the first Run of a context would close its tab when
// it ends).
func within[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// TestBrowserKeepsLoginAcrossReloadAndRestart is issue item 7.
func TestBrowserKeepsLoginAcrossReloadAndRestart(t *testing.T) {
	exe := chromium(t)
	srv := &loginServer{t: t, bin: buildLogin(t), db: filepath.Join(t.TempDir(), "login.db")}
	srv.start("127.0.0.1:0")
	t.Cleanup(func() {
		select {
		case <-srv.done:
		default:
			srv.cmd.Process.Kill()
			<-srv.done
		}
	})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	first, cancelFirst := chromedp.NewContext(allocCtx)
	defer cancelFirst()
	// The first Run starts the browser; it gets no timeout (a timeout there
	// would end the browser with it).
	if err := chromedp.Do(first); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nserver log:\n%s", what, err, srv.logs())
		}
	}
	signedInAs := func(ctx context.Context) string {
		t.Helper()
		// The page shows either #user (signed in) or the login form.
		state, err := within(ctx, chromedp.Evaluate[string](
			`(document.querySelector("#user") || {textContent: ""}).textContent +
			 (document.querySelector("#login") ? "|form" : "")`))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return state
	}
	login := func(ctx context.Context, name string) {
		t.Helper()
		step(ctx, "log in as "+name,
			chromedp.Navigate(srv.url+"/"),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), name),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("user")),
		)
	}

	// Log in, reload: still signed in.
	login(first, "alice")
	if got := signedInAs(first); !strings.Contains(got, "alice") {
		t.Fatalf("after login the page shows %q", got)
	}
	step(first, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("user")))
	if got := signedInAs(first); !strings.Contains(got, "alice") {
		t.Fatalf("after reload the page shows %q", got)
	}

	// The session cookie is HttpOnly: page script cannot see it, while a
	// cookie the script sets itself is visible (so document.cookie works).
	jsCookies, err := within(first, chromedp.Evaluate[string](
		`document.cookie = "probe=1; path=/"; document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jsCookies, "probe=1") {
		t.Fatalf("document.cookie does not work here: %q", jsCookies)
	}
	if strings.Contains(jsCookies, "sid=") {
		t.Fatalf("the session cookie is visible to page script: %q", jsCookies)
	}
	// Its attributes as the browser stored them: the Manager's defaults.
	cookies, err := within(first, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.url + "/"}})
		if err != nil {
			return nil, err
		}
		return res.Cookies, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sid *network.Cookie
	for _, c := range cookies {
		if c.Name == "sid" {
			sid = c
		}
	}
	if sid == nil {
		t.Fatalf("the browser holds no session cookie: %+v", cookies)
	}
	if !sid.HTTPOnly || sid.SameSite != network.CookieSameSiteLax || sid.Path != "/" || sid.Secure || sid.Session {
		t.Errorf("session cookie as stored: httpOnly=%v sameSite=%q path=%q secure=%v session=%v; want true, Lax, /, false (plain HTTP), false (persistent)",
			sid.HTTPOnly, sid.SameSite, sid.Path, sid.Secure, sid.Session)
	}

	// Restart the server process on the same port and file: still signed in.
	port := srv.url[strings.LastIndex(srv.url, ":")+1:]
	srv.stop()
	srv.start("127.0.0.1:" + port)
	step(first, "reload after restart", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("user")))
	if got := signedInAs(first); !strings.Contains(got, "alice") {
		t.Fatalf("after the server restarted the page shows %q", got)
	}

	// A second browser profile (its own cookie jar) logs in as the same
	// user and signs out everywhere: the first browser is signed out too.
	second, cancelSecond := chromedp.NewContext(first, chromedp.WithNewBrowserContext())
	defer cancelSecond()
	// Its tab, too, must be made by a Run without a timeout.
	if err := chromedp.Do(second); err != nil {
		t.Fatalf("open a second browser context: %v", err)
	}
	login(second, "alice")
	step(first, "reload to see both sessions", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("user")))
	if rows, err := within(first, chromedp.Evaluate[int](`document.querySelectorAll("#sessions tr").length - 1`)); err != nil || rows != 2 {
		t.Fatalf("the first browser lists %d sessions (%v), want 2", rows, err)
	}
	step(second, "log out everywhere",
		chromedp.Click(chromedp.ID("logout-all")),
		chromedp.WaitVisible(chromedp.ID("login")),
	)
	step(first, "reload after logout everywhere", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("login")))
	if got := signedInAs(first); strings.Contains(got, "alice") || !strings.Contains(got, "|form") {
		t.Fatalf("after a logout everywhere from another browser the first shows %q", got)
	}

	// What the page echoes is escaped: a user name that is markup shows as
	// text and runs nothing.
	hostile := `<img src=x onerror="window.pwned=1">`
	login(second, hostile)
	if got := signedInAs(second); !strings.Contains(got, hostile) {
		t.Errorf("the page shows %q, want the name as text", got)
	}
	if pwned, err := within(second, chromedp.Evaluate[bool](`window.pwned === 1 || document.querySelector("#user img") !== null`)); err != nil || pwned {
		t.Errorf("a user name was rendered as markup (%v)", err)
	}
}
