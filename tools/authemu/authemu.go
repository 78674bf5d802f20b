// Package authemu signs test buyers in to the Firebase Auth emulator with
// the standard Identity Toolkit REST API (docs/contract.md, Running it locally), as a web client
// would: it creates the user with the chosen uid if need be, signs in with
// e-mail and password, and returns the ID token. Only for the emulator:
// its project's owner is "owner", and its tokens are not signed.
package authemu

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultHost is the Auth emulator of `make run` (docs/contract.md, Running it locally).
const DefaultHost = "127.0.0.1:9099"

// Password is every test buyer's password.
const Password = "saga-test-password"

// Client talks to one Auth emulator project.
type Client struct {
	Host    string // host:port
	Project string
	HTTP    *http.Client

	mu     sync.Mutex
	tokens map[string]cached
}

type cached struct {
	token   string
	expires time.Time
}

// New returns a client of the emulator at host for project.
func New(host, project string) *Client {
	// No keep-alive: the emulator (Node.js) closes idle connections after
	// 5 s, and a request sent on one just then is reset.
	tr := &http.Transport{DisableKeepAlives: true}
	return &Client{Host: host, Project: project, HTTP: &http.Client{Timeout: 10 * time.Second, Transport: tr}, tokens: map[string]cached{}}
}

// FromEnv returns a client of the emulator the environment names
// (FIREBASE_AUTH_EMULATOR_HOST, FIREBASE_PROJECT or GOOGLE_CLOUD_PROJECT),
// defaulting to `make run`'s.
func FromEnv(defaultProject string) *Client {
	host := os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")
	if host == "" {
		host = DefaultHost
	}
	project := os.Getenv("FIREBASE_PROJECT")
	if project == "" {
		project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	if project == "" {
		project = defaultProject
	}
	return New(host, project)
}

// Email is the test buyer uid's e-mail: uid@buyers.example.com for a
// lower-case uid (alice@buyers.example.com, to type on the page); any other
// uid is spelled in hex under another domain, as e-mails ignore case and
// uids do not.
func Email(uid string) string {
	if plainUID.MatchString(uid) {
		return uid + "@buyers.example.com"
	}
	return hex.EncodeToString([]byte(uid)) + "@hex.buyers.example.com"
}

var plainUID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Token returns an ID token of uid, creating the user first if need be.
// Tokens are reused until five minutes before they expire.
func (c *Client) Token(ctx context.Context, uid string) (string, error) {
	c.mu.Lock()
	t, ok := c.tokens[uid]
	c.mu.Unlock()
	if ok && time.Until(t.expires) > 5*time.Minute {
		return t.token, nil
	}
	if err := c.CreateUser(ctx, uid); err != nil {
		return "", err
	}
	var out struct {
		IDToken   string `json:"idToken"`
		ExpiresIn string `json:"expiresIn"`
	}
	if err := c.call(ctx, "/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any", false,
		map[string]any{"email": Email(uid), "password": Password, "returnSecureToken": true}, &out); err != nil {
		return "", fmt.Errorf("sign in %s: %w", uid, err)
	}
	secs, err := strconv.Atoi(out.ExpiresIn)
	if err != nil {
		return "", fmt.Errorf("sign in %s: expiresIn %q: %w", uid, out.ExpiresIn, err)
	}
	c.mu.Lock()
	c.tokens[uid] = cached{token: out.IDToken, expires: time.Now().Add(time.Duration(secs) * time.Second)}
	c.mu.Unlock()
	return out.IDToken, nil
}

// CreateUser creates the user uid; an existing one is left as it is.
func (c *Client) CreateUser(ctx context.Context, uid string) error {
	err := c.call(ctx, "/identitytoolkit.googleapis.com/v1/projects/"+c.Project+"/accounts", true,
		map[string]any{"localId": uid, "email": Email(uid), "password": Password}, nil)
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("create user %s: %w", uid, err)
	}
	return nil
}

// Disable disables (or enables again) the user uid.
func (c *Client) Disable(ctx context.Context, uid string, disabled bool) error {
	return c.update(ctx, map[string]any{"localId": uid, "disableUser": disabled})
}

// Revoke revokes every token of uid issued before now.
func (c *Client) Revoke(ctx context.Context, uid string) error {
	// Tokens issued in the same second as validSince stay valid: wait
	// for the next second, as Firebase's own revocation does.
	next := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(next))
	c.mu.Lock()
	delete(c.tokens, uid)
	c.mu.Unlock()
	return c.update(ctx, map[string]any{"localId": uid, "validSince": fmt.Sprint(next.Unix())})
}

func (c *Client) update(ctx context.Context, body map[string]any) error {
	return c.call(ctx, "/identitytoolkit.googleapis.com/v1/projects/"+c.Project+"/accounts:update", true, body, nil)
}

type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("auth emulator: %d %s", e.status, e.message) }

func isDuplicate(err error) bool {
	var e *apiError
	return errors.As(err, &e) && (strings.Contains(e.message, "DUPLICATE_LOCAL_ID") || strings.Contains(e.message, "EMAIL_EXISTS"))
}

func (c *Client) call(ctx context.Context, path string, owner bool, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	send := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+c.Host+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if owner {
			req.Header.Set("Authorization", "Bearer owner")
		}
		return c.HTTP.Do(req)
	}
	res, err := send()
	for attempt := 1; err != nil && attempt < 3 && ctx.Err() == nil; attempt++ {
		// Every call here is safe to repeat: a user created twice is
		// found, a sign-in or an update done twice is the same.
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond) // backoff before trying again
		res, err = send()
	}
	if err != nil {
		return fmt.Errorf("the Firebase Auth emulator at %s: %w", c.Host, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return &apiError{status: res.StatusCode, message: e.Error.Message}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
