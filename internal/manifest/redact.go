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

// Redacted returns a copy of a Secret object with the values of data and stringData (and the
// last-applied-configuration annotation, which repeats them) replaced by placeholders. Keys,
// and the types of values, are kept.
func Redacted(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	if m, ok := obj["data"].(map[string]any); ok {
		out["data"] = redactValues(m, true)
	} else if obj["data"] != nil {
		out["data"] = redactLeaves(obj["data"], false)
	}
	if m, ok := obj["stringData"].(map[string]any); ok {
		out["stringData"] = redactValues(m, false)
	} else if obj["stringData"] != nil {
		out["stringData"] = redactLeaves(obj["stringData"], false)
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			if _, ok := ann[lastApplied]; ok {
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
				out["metadata"] = nmd
			}
		}
	}
	return out
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
