package validate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/schemas"
)

// removedAPI is a served API version of a kind that Kubernetes removed, and what replaces it.
type removedAPI struct {
	Major, Minor int    // the release that stopped serving it
	Replacement  string // "apps/v1 Deployment", or "" when Kubernetes names none
}

// removedIn returns the removal of apiVersion/kind when it happened at or before the target
// Kubernetes version (MAJOR.MINOR.PATCH): such an object has no schema because the API server
// no longer accepts it, not because a CRD is missing.
func removedIn(apiVersion, kind, k8sVersion string) (removedAPI, bool) {
	r, ok := removedAPIs[apiVersion+"/"+kind]
	if !ok {
		return removedAPI{}, false
	}
	parts := strings.Split(schemas.NormalizeVersion(k8sVersion), ".")
	if len(parts) < 2 {
		return removedAPI{}, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < r.Major || major == r.Major && minor < r.Minor {
		return removedAPI{}, false
	}
	return r, true
}

func removedMessage(apiVersion, kind string, r removedAPI) string {
	msg := fmt.Sprintf("%s %s: this API was removed in Kubernetes %d.%d", apiVersion, kind, r.Major, r.Minor)
	if r.Replacement != "" {
		return msg + "; use " + r.Replacement
	}
	return msg + " and has no direct replacement"
}
