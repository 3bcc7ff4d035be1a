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
