package manifest

import "encoding/base64"

// Placeholders that stand in for Secret values in what tools see: the same type and, for
// `data`, the same validity as the value they replace, so schema validation decides as it would
// on the real value without ever seeing it.
const (
	RedactedBase64 = "cmVkYWN0ZWQ=" // base64 of "redacted"
	RedactedText   = "redacted"
	// RedactedBadBase64 replaces a `data` value that is not valid base64: still invalid.
	RedactedBadBase64 = "!redacted: not base64!"
)

// lastApplied is the annotation kubectl writes with the whole object as JSON: on a Secret it
// holds the secret values too.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// IsSecret reports whether a document is a Secret, whose values no tool needs to see.
func (d Document) IsSecret() bool { return d.Kind == "Secret" }

// Redacted returns a copy of a Secret object in which every value a Secret may hold is replaced
// by a placeholder of the same type: data, stringData, any other field (a misspelled
// `strinData` holds secrets too) and the last-applied-configuration annotation, which repeats
// them. apiVersion, kind, type, immutable and the rest of metadata are kept, as are all keys,
// so schema validation decides as it would on the real object.
func Redacted(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		switch k {
		case "apiVersion", "kind", "type", "immutable":
			out[k] = v
		case "metadata":
			out[k] = redactMetadata(v)
		default:
			out[k] = redactLeaves(v, k == "data")
		}
	}
	return out
}

func redactMetadata(v any) any {
	md, ok := v.(map[string]any)
	if !ok {
		return v
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return md
	}
	if _, ok := ann[lastApplied]; !ok {
		return md
	}
	nmd := make(map[string]any, len(md))
	for k, v := range md {
		nmd[k] = v
	}
	nann := make(map[string]any, len(ann))
	for k, v := range ann {
		nann[k] = v
	}
	nann[lastApplied] = redactLeaves(ann[lastApplied], false)
	nmd["annotations"] = nann
	return nmd
}

func redactValues(m map[string]any, b64 bool) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = redactLeaves(v, b64)
	}
	return out
}

// redactLeaves replaces every scalar under v with a placeholder of the same type.
func redactLeaves(v any, b64 bool) any {
	switch t := v.(type) {
	case string:
		if !b64 {
			return RedactedText
		}
		if _, err := base64.StdEncoding.DecodeString(t); err != nil {
			return RedactedBadBase64
		}
		return RedactedBase64
	case map[string]any:
		return redactValues(t, b64)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactLeaves(e, b64)
		}
		return out
	case bool:
		return false
	case nil:
		return nil
	case int:
		return 0
	case int64:
		return int64(0)
	case uint64:
		return uint64(0)
	case float64:
		return 0.0
	}
	return RedactedText
}
