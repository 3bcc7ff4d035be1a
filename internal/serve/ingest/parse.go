// Package ingest is tollgate serve's front door: it authenticates registry notifications
// (CNCF Distribution, Harbor) and plain API calls, turns them into pushes and acknowledges
// each request only after the store has committed them.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// Media types.
const (
	// DistributionEnvelope is the media type of a Distribution notification envelope.
	DistributionEnvelope = "application/vnd.docker.distribution.events.v1+json"
	JSON                 = "application/json"
)

// manifestTypes are the pushed media types that are images or indexes; Distribution also
// notifies layer (blob) pushes, which are not images.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// Skipped is an event that was understood and deliberately not queued.
type Skipped struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
}

// BadRequest is a payload the endpoint cannot read (HTTP 400).
type BadRequest struct{ Err error }

func (e *BadRequest) Error() string { return e.Err.Error() }

func bad(format string, args ...any) error { return &BadRequest{Err: fmt.Errorf(format, args...)} }

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return bad("malformed JSON: %v", err)
	}
	if dec.More() {
		return bad("malformed JSON: data after the document")
	}
	return nil
}

type distributionEnvelope struct {
	Events *[]distributionEvent `json:"events"`
}

type distributionEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// ParseDistribution reads a Distribution notification envelope: push events of manifests
// and indexes become pushes; pulls, deletes, mounts and blob pushes are skipped.
func ParseDistribution(body []byte) ([]store.Push, []Skipped, error) {
	var env distributionEnvelope
	if err := decodeStrict(body, &env); err != nil {
		return nil, nil, err
	}
	if env.Events == nil {
		return nil, nil, bad("not a Distribution envelope: no \"events\" list")
	}
	var pushes []store.Push
	var skipped []Skipped
	for i, ev := range *env.Events {
		label := ev.ID
		if label == "" {
			label = fmt.Sprintf("events[%d]", i)
		}
		if ev.Action != "push" {
			skipped = append(skipped, Skipped{label, "action " + ev.Action})
			continue
		}
		if !manifestTypes[ev.Target.MediaType] {
			skipped = append(skipped, Skipped{label, "not an image manifest or index: " + ev.Target.MediaType})
			continue
		}
		host := ev.Request.Host
		if host == "" && ev.Target.URL != "" {
			if u, err := url.Parse(ev.Target.URL); err == nil {
				host = u.Host
			}
		}
		p, err := newPush(host, ev.Target.Repository, ev.Target.Digest, ev.Target.Tag)
		if err != nil {
			return nil, nil, bad("%s: %v", label, err)
		}
		p.MediaType, p.Source, p.EventID = ev.Target.MediaType, "distribution", ev.ID
		pushes = append(pushes, p)
	}
	return pushes, skipped, nil
}

type harborPayload struct {
	Type      string `json:"type"`
	EventData *struct {
		Resources []struct {
			Digest      string `json:"digest"`
			Tag         string `json:"tag"`
			ResourceURL string `json:"resource_url"`
		} `json:"resources"`
		Repository struct {
			RepoFullName string `json:"repo_full_name"`
		} `json:"repository"`
	} `json:"event_data"`
}

// ParseHarbor reads a Harbor webhook in its "Default" payload format. PUSH_ARTIFACT resources
// become pushes (resource_url names host/project/repo:tag); other event types are skipped.
func ParseHarbor(body []byte) ([]store.Push, []Skipped, error) {
	var p harborPayload
	if err := decodeStrict(body, &p); err != nil {
		return nil, nil, err
	}
	if p.Type == "" || p.EventData == nil {
		return nil, nil, bad("not a Harbor webhook: want \"type\" and \"event_data\" (the Default payload format; CloudEvents is not accepted)")
	}
	if p.Type != "PUSH_ARTIFACT" {
		return nil, []Skipped{{p.Type, "event type " + p.Type}}, nil
	}
	var pushes []store.Push
	for i, r := range p.EventData.Resources {
		host, repo, err := splitResourceURL(r.ResourceURL)
		if err != nil {
			return nil, nil, bad("resources[%d]: %v", i, err)
		}
		if full := p.EventData.Repository.RepoFullName; full != "" && full != repo {
			return nil, nil, bad("resources[%d]: resource_url names %s but the repository is %s", i, repo, full)
		}
		push, err := newPush(host, repo, r.Digest, r.Tag)
		if err != nil {
			return nil, nil, bad("resources[%d]: %v", i, err)
		}
		push.Source = "harbor"
		pushes = append(pushes, push)
	}
	if len(pushes) == 0 {
		return nil, nil, bad("PUSH_ARTIFACT without resources")
	}
	return pushes, nil, nil
}

// splitResourceURL splits "harbor.example.com/library/app:tag" (or "...@sha256:...") into the
// registry host and the repository.
func splitResourceURL(s string) (host, repo string, err error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if at := strings.Index(s, "@"); at >= 0 {
		s = s[:at]
	}
	host, rest, ok := strings.Cut(s, "/")
	if !ok || host == "" || rest == "" {
		return "", "", fmt.Errorf("resource_url %q is not host/repository[:tag]", s)
	}
	if c := strings.LastIndex(rest, ":"); c >= 0 {
		rest = rest[:c]
	}
	return host, rest, nil
}

type plainRequest struct {
	Image *string `json:"image"`
	Tag   string  `json:"tag"`
}

// ParsePlain reads {"image": "host/repo@sha256:..."}: the reference must be pinned by digest,
// since a tag can move before the scan runs.
func ParsePlain(body []byte) ([]store.Push, error) {
	var r plainRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, err
	}
	if r.Image == nil || *r.Image == "" {
		return nil, bad("want {\"image\": \"registry/repository@sha256:...\"}")
	}
	ref, err := name.NewDigest(*r.Image, name.StrictValidation)
	if err != nil {
		return nil, bad("image %q must be a full reference pinned by digest (registry/repository@sha256:...): %v", *r.Image, err)
	}
	p, err := newPush(ref.Context().RegistryStr(), ref.Context().RepositoryStr(), ref.DigestStr(), r.Tag)
	if err != nil {
		return nil, err
	}
	p.Source = "api"
	return []store.Push{p}, nil
}

func newPush(host, repo, dgst, tag string) (store.Push, error) {
	if host == "" {
		return store.Push{}, errors.New("no registry host")
	}
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
		return store.Push{}, fmt.Errorf("registry %q: %v", host, err)
	}
	if _, err := name.NewRepository(host+"/"+repo, name.StrictValidation); err != nil || repo == "" {
		return store.Push{}, fmt.Errorf("repository %q is not valid", repo)
	}
	d, err := digest.Parse(dgst)
	if err != nil || d.Algorithm() != digest.SHA256 {
		return store.Push{}, fmt.Errorf("digest %q is not a sha256 digest", dgst)
	}
	if tag != "" {
		if _, err := name.NewTag(host+"/"+repo+":"+tag, name.StrictValidation); err != nil {
			return store.Push{}, fmt.Errorf("tag %q is not valid", tag)
		}
	}
	return store.Push{Registry: host, Repository: repo, Digest: d.String(), Tag: tag}, nil
}
