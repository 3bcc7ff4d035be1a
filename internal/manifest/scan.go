package manifest

import (
	"bytes"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// nonStringRe matches plain scalars YAML 1.1 or 1.2 reads as something other than a string.
var nonStringRe = regexp.MustCompile(`^(?i:[-+]?[0-9._]+(e[-+]?[0-9]+)?|0x[0-9a-f]+|0o?[0-7]+|[-+]?\.inf|\.nan|true|false|yes|no|y|n|on|off|null|~)$`)

// splitKey reads `key: value` (or `key:`) with a plain key, as the scan needs it.
func splitKey(line []byte) (key, value []byte, ok bool) {
	for i, ch := range line {
		switch {
		case ch == ':':
			if i == 0 || (i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t') {
				return nil, nil, false
			}
			return line[:i], bytes.TrimSpace(line[i+1:]), true
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch == '_',
			i > 0 && (ch >= '0' && ch <= '9' || ch == '.' || ch == '-'):
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// scanHeader reads apiVersion, kind and metadata's name, namespace and generateName from the
// lines of a block-style YAML document, without decoding the rest. ok is false whenever it
// cannot be sure of what a YAML parser would read; the caller then decodes the document in full.
// CustomResourceDefinitions, Secrets and Lists always need the full decode.
func scanHeader(name string, c chunk) (Document, bool) {
	var apiVersion, kind string
	var seenAPI, seenKind, seenMeta, inMeta bool
	metaIndent := -1
	meta := map[string]any{}
	text := c.text
	for first := true; len(text) > 0; first = false {
		var line []byte
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, nil
		}
		line = bytes.TrimRight(line, "\r")
		if first && isDocStart(line) {
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				return Document{}, false
			}
			continue
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if line[0] == '\t' {
			return Document{}, false
		}
		if line[0] == ' ' {
			if !inMeta {
				continue // inside some other top-level value
			}
			ind := len(line) - len(bytes.TrimLeft(line, " "))
			if line[ind] == '\t' {
				return Document{}, false
			}
			if metaIndent < 0 {
				metaIndent = ind
			}
			switch {
			case ind < metaIndent:
				return Document{}, false
			case ind == metaIndent:
				key, val, ok := splitKey(line[ind:])
				if !ok {
					return Document{}, false
				}
				switch k := string(key); k {
				case "name", "namespace", "generateName":
					v, ok := plainString(val)
					if _, dup := meta[k]; !ok || dup {
						return Document{}, false
					}
					meta[k] = v
				default:
					if !closedValue(val) {
						return Document{}, false
					}
				}
			}
			continue
		}
		inMeta = false
		key, val, ok := splitKey(line)
		if !ok || !closedValue(val) {
			return Document{}, false
		}
		switch string(key) {
		case "apiVersion":
			v, ok := plainString(val)
			if !ok || seenAPI {
				return Document{}, false
			}
			apiVersion, seenAPI = v, true
		case "kind":
			v, ok := plainString(val)
			if !ok || seenKind {
				return Document{}, false
			}
			kind, seenKind = v, true
		case "metadata":
			if seenMeta {
				return Document{}, false
			}
			seenMeta = true
			v := stripComment(val)
			switch {
			case len(v) == 0:
				inMeta, metaIndent = true, -1
			case v[0] == '{':
				if !flowMeta(v, meta) {
					return Document{}, false
				}
			default:
				return Document{}, false
			}
		}
	}
	// Secrets are decoded in full so their data can be redacted before any tool sees them.
	if !seenAPI || !seenKind || kind == "CustomResourceDefinition" || kind == "Secret" || strings.HasSuffix(strings.ToLower(kind), "list") {
		return Document{}, false
	}
	d := Document{File: name, Index: c.index, APIVersion: apiVersion, Kind: kind, Raw: c.text,
		Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	if seenMeta {
		d.Object["metadata"] = meta
	}
	d.Name, _ = meta["name"].(string)
	d.Namespace, _ = meta["namespace"].(string)
	if d.Name == "" {
		d.Name, _ = meta["generateName"].(string)
	}
	return d, true
}

// flowMeta reads `metadata: {name: x, ...}` written on one line: with a small reader for the
// usual simple form, else with a YAML decoder.
func flowMeta(v []byte, meta map[string]any) bool {
	if simpleFlowMeta(v, meta) {
		return true
	}
	clear(meta)
	var m map[string]any
	if yaml.Unmarshal(v, &m) != nil {
		return false
	}
	for _, k := range []string{"name", "namespace", "generateName"} {
		if x, ok := m[k]; ok {
			s, ok := x.(string)
			if !ok {
				return false
			}
			meta[k] = s
		}
	}
	return true
}

// simpleFlowMeta reads a one-line flow mapping with plain keys, taking name, namespace and
// generateName and skipping other entries (nested flow collections included). It gives up on
// anything else: quotes, anchors, aliases, tags.
func simpleFlowMeta(v []byte, meta map[string]any) bool {
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' || bytes.ContainsAny(v, "\"'&*!#") {
		return false
	}
	inner := v[1 : len(v)-1]
	depth, start := 0, 0
	entry := func(e []byte) bool {
		e = bytes.TrimSpace(e)
		if len(e) == 0 {
			return true
		}
		key, val, ok := splitKey(e)
		if !ok {
			return false
		}
		switch k := string(key); k {
		case "name", "namespace", "generateName":
			s, ok := plainString(val)
			if _, dup := meta[k]; !ok || dup {
				return false
			}
			meta[k] = s
		}
		return true
	}
	for i, ch := range inner {
		switch ch {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth < 0 {
				return false
			}
		case ',':
			if depth == 0 {
				if !entry(inner[start:i]) {
					return false
				}
				start = i + 1
			}
		}
	}
	return depth == 0 && entry(inner[start:])
}

// plainString reads a one-line scalar that is certainly a string: plain, or quoted without
// escapes.
func plainString(v []byte) (string, bool) {
	v = stripComment(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"', '\'':
		q := v[0]
		if len(v) < 2 || v[len(v)-1] != q || bytes.IndexByte(v[1:len(v)-1], q) >= 0 || bytes.IndexByte(v, '\\') >= 0 {
			return "", false
		}
		return string(v[1 : len(v)-1]), true
	case '&', '*', '!', '|', '>', '{', '[', '%', '@', '`', '-', '?', ',', ']', '}':
		return "", false
	}
	maybeNonString := len(v) <= 5 || bytes.IndexByte([]byte("0123456789+-."), v[0]) >= 0
	if maybeNonString && nonStringRe.Match(v) || bytes.Contains(v, []byte(": ")) || bytes.HasSuffix(v, []byte(":")) {
		return "", false
	}
	return string(v), true
}

// closedValue reports whether a top-level value is complete on its line, so that the next
// line at column 0 is the next key: a flow collection or quoted scalar must close there.
func closedValue(v []byte) bool {
	v = stripComment(v)
	if len(v) == 0 {
		return true
	}
	switch v[0] {
	case '{':
		return v[len(v)-1] == '}'
	case '[':
		return v[len(v)-1] == ']'
	case '"', '\'':
		return len(v) > 1 && v[len(v)-1] == v[0]
	case '&', '*', '!':
		return false
	}
	return true
}

// stripComment drops a trailing ` # comment` that is not inside quotes, and surrounding space.
func stripComment(v []byte) []byte {
	var quote byte
	for i, ch := range v {
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'':
			if i == 0 || v[i-1] == ' ' || v[i-1] == '\t' {
				quote = ch
			}
		case ch == '#' && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t'):
			return bytes.TrimSpace(v[:i])
		}
	}
	return bytes.TrimSpace(v)
}
