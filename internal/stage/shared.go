package stage

import "sync"

// Shared is a small concurrent map for values one stage hands to another in the same run.
type Shared struct {
	mu sync.Mutex
	m  map[string]any
}

// Set stores a value.
func (s *Shared) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]any{}
	}
	s.m[key] = v
}

// Get loads a value.
func (s *Shared) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// LoadOrStore returns the value stored under key if there is one (loaded true); otherwise it
// stores v and returns it. It lets two parallel stages agree on one value (e.g. one image opener).
func (s *Shared) LoadOrStore(key string, v any) (actual any, loaded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		return old, true
	}
	if s.m == nil {
		s.m = map[string]any{}
	}
	s.m[key] = v
	return v, false
}

// Values one stage hands to later ones through Env.Shared. The writing stage owns the key; no
// stage imports another, so the keys and their types live here.
const (
	// KeyBuiltImage holds a *BuiltImage, written by build, read by sbom, scan and push.
	KeyBuiltImage = "build.image"
	// KeyPublishedRef holds the pushed reference "repo@sha256:..." (a string), written by push,
	// read by sign, attest, verify and deploy: every release stage works on the digest, never a tag.
	KeyPublishedRef = "push.ref"
	// KeySignedRef holds the reference "repo@sha256:..." the sign stage signed (a string), read by
	// attest and verify when nothing was pushed in the run, so all three work on one digest even
	// if the tag moves meanwhile.
	KeySignedRef = "sign.ref"
)

// BuiltImage is an image the build stage produced in this run.
type BuiltImage struct {
	Archive   string   // OCI archive in the run's work dir
	Digest    string   // sha256:... of the manifest (or index, for several platforms)
	Platforms []string // e.g. linux/amd64
}

// BuiltImage returns the image the build stage produced in this run, or nil when it did not
// run or built nothing.
func (e *Env) BuiltImage() *BuiltImage {
	if e == nil || e.Shared == nil {
		return nil
	}
	v, ok := e.Shared.Get(KeyBuiltImage)
	if !ok {
		return nil
	}
	b, _ := v.(*BuiltImage)
	return b
}
