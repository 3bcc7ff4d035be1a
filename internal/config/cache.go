package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// DefaultCacheMaxSize bounds the result cache when cache.max-size is not set.
const DefaultCacheMaxSize = "500MB"

// Cache configures the result cache: stage results kept under the tool cache dir and reused
// while nothing they depend on changes.
type Cache struct {
	// Enabled turns the result cache on (default true).
	Enabled *bool `yaml:"enabled"`
	// MaxSize caps the bytes the cached results take, e.g. 500MB or 2GiB (default 500MB); the
	// least recently used results are evicted first.
	MaxSize string `yaml:"max-size"`
}

func (c *Cache) defaults() {
	if c.MaxSize == "" {
		c.MaxSize = DefaultCacheMaxSize
	}
}

// On reports whether the result cache is enabled.
func (c Cache) On() bool { return c.Enabled == nil || *c.Enabled }

// MaxBytes is MaxSize in bytes.
func (c Cache) MaxBytes() (int64, error) { return ParseSize(c.MaxSize) }

func (c *Config) validateCache() error {
	if _, err := c.Cache.MaxBytes(); err != nil {
		return &model.InputError{File: c.Path, Err: fmt.Errorf("cache.max-size: %w", err)}
	}
	return nil
}

// ParseSize reads a size such as 500MB, 2GiB, 750k or a plain number of bytes. Decimal (KB, MB,
// GB, TB) and binary (KiB, MiB, GiB, TiB) units are both accepted; K, M, G and T alone are binary.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && !(t[i-1] >= '0' && t[i-1] <= '9' || t[i-1] == '.') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v <= 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 500MB, 2GiB or a number of bytes)", s)
	}
	return int64(v * mult), nil
}
