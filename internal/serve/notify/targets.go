package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
)

// Headers every delivery carries: the delivery id lets a receiver drop the rare duplicate
// (a crash between a successful send and recording it).
const (
	HeaderDelivery = "X-Tollgate-Delivery"
	HeaderEvent    = "X-Tollgate-Event"
	UserAgent      = "tollgate-serve"
)

// Target renders a message as the HTTP request one receiver expects.
type Target interface {
	Name() string
	Request(ctx context.Context, m Message, deliveryID string) (*http.Request, error)
}

func jsonRequest(ctx context.Context, method, u string, body any) (*http.Request, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	return req, b, nil
}

// Webhook posts the message as JSON, signed: X-Tollgate-Signature-256 is
// "sha256=" + hex(HMAC-SHA256(secret, body)), the same scheme the ingest endpoints accept.
type Webhook struct {
	TargetName string
	URL        string
	Secret     []byte
}

// Name is the target's configured name.
func (w *Webhook) Name() string { return w.TargetName }

// Request builds the POST.
func (w *Webhook) Request(ctx context.Context, m Message, deliveryID string) (*http.Request, error) {
	req, body, err := jsonRequest(ctx, http.MethodPost, w.URL, m)
	if err != nil {
		return nil, err
	}
	req.Header.Set(HeaderDelivery, deliveryID)
	req.Header.Set(HeaderEvent, "vulnerabilities."+m.Kind)
	if len(w.Secret) > 0 {
		req.Header.Set(ingest.SignatureHeader, ingest.SignatureValue(w.Secret, body))
	}
	return req, nil
}

// Slack posts to an incoming webhook (Slack, or a compatible one such as Mattermost's):
// {"text": ...} with mrkdwn blocks. The URL is the secret.
type Slack struct {
	TargetName string
	URL        string
}

// Name is the target's configured name.
func (s *Slack) Name() string { return s.TargetName }

// Request builds the POST.
func (s *Slack) Request(ctx context.Context, m Message, deliveryID string) (*http.Request, error) {
	var lines []string
	for i, v := range m.Findings {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("… and %d more", len(m.Findings)-20))
			break
		}
		fix := "no fix yet"
		if v.Fixed != "" {
			fix = "fixed in " + v.Fixed
		}
		lines = append(lines, fmt.Sprintf("• *%s* %s in `%s` %s (%s)", v.Severity, v.ID, v.Package, v.Installed, fix))
	}
	text := ":rotating_light: " + m.Title()
	if m.URL != "" {
		text += " <" + m.URL + "|details>"
	}
	body := map[string]any{
		"text": text,
		"blocks": []map[string]any{
			{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}},
			{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": strings.Join(lines, "\n")}},
		},
	}
	req, _, err := jsonRequest(ctx, http.MethodPost, s.URL, body)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// GitHub opens an issue: POST {api}/repos/{owner}/{repo}/issues with a bearer token.
type GitHub struct {
	TargetName string
	API        string // https://api.github.com or https://HOST/api/v3
	Repository string // owner/name
	Token      string
	Labels     []string
}

// Name is the target's configured name.
func (g *GitHub) Name() string { return g.TargetName }

// Request builds the POST.
func (g *GitHub) Request(ctx context.Context, m Message, deliveryID string) (*http.Request, error) {
	owner, repo, ok := strings.Cut(g.Repository, "/")
	if !ok || owner == "" || repo == "" {
		return nil, fmt.Errorf("github: repository %q is not owner/name", g.Repository)
	}
	u := strings.TrimSuffix(g.API, "/") + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/issues"
	body := map[string]any{"title": m.Title(), "body": issueBody(m, deliveryID)}
	if len(g.Labels) > 0 {
		body["labels"] = g.Labels
	}
	req, _, err := jsonRequest(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+g.Token)
	return req, nil
}

// GitLab opens an issue: POST {api}/api/v4/projects/{id or url-encoded path}/issues with a
// PRIVATE-TOKEN header.
type GitLab struct {
	TargetName string
	API        string // https://gitlab.com
	Project    string // numeric id or group/project
	Token      string
	Labels     []string
}

// Name is the target's configured name.
func (g *GitLab) Name() string { return g.TargetName }

// Request builds the POST.
func (g *GitLab) Request(ctx context.Context, m Message, deliveryID string) (*http.Request, error) {
	if g.Project == "" {
		return nil, fmt.Errorf("gitlab: no project")
	}
	u := strings.TrimSuffix(g.API, "/") + "/api/v4/projects/" + url.PathEscape(g.Project) + "/issues"
	body := map[string]any{"title": m.Title(), "description": issueBody(m, deliveryID)}
	if len(g.Labels) > 0 {
		body["labels"] = strings.Join(g.Labels, ",")
	}
	req, _, err := jsonRequest(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("PRIVATE-TOKEN", g.Token)
	return req, nil
}

// issueBody is the Markdown of an issue: what was found, where, and how to fix it.
func issueBody(m Message, deliveryID string) string {
	var b strings.Builder
	if m.Kind == KindFirst {
		fmt.Fprintf(&b, "Tollgate's first scan of `%s` found:\n\n", m.Image)
	} else {
		fmt.Fprintf(&b, "A %s of `%s` against vulnerability DB %s found new vulnerabilities:\n\n", m.ScanKind, m.Image, m.DBVersion)
	}
	b.WriteString("| Vulnerability | Severity | Package | Installed | Fixed in |\n|---|---|---|---|---|\n")
	for _, v := range m.Findings {
		id := v.ID
		if v.URL != "" {
			id = "[" + v.ID + "](" + v.URL + ")"
		}
		fix := v.Fixed
		if fix == "" {
			fix = "no fix yet"
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s | %s |\n", id, v.Severity, v.Package, v.Installed, fix)
	}
	if len(m.Tags) > 0 {
		fmt.Fprintf(&b, "\nTags: %s\n", strings.Join(m.Tags, ", "))
	}
	if m.URL != "" {
		fmt.Fprintf(&b, "\nDetails: %s\n", m.URL)
	}
	fmt.Fprintf(&b, "\n<!-- tollgate-delivery: %s -->\n", deliveryID)
	return b.String()
}
