package policy

import (
	"fmt"
	"strings"
)

// Args builds `gator test`'s arguments for the input file Batch.Input was written to. Both runners
// use it: the native one with a temp-file path, the Dagger one with the path inside gator's
// container. JSON output carries each violation's constraint, enforcement action and object;
// the CEL engine (K8sNativeValidation) is on, as in gator's default, and said so explicitly.
func Args(inputFile string) ([]string, error) {
	if inputFile == "" || strings.HasPrefix(inputFile, "-") {
		return nil, fmt.Errorf("gator input %q is not a file path", inputFile)
	}
	return []string{"test", "--output=json", "--enable-k8s-native-validation=true", "--filename=" + inputFile}, nil
}

// VerifyArgs builds `gator verify`'s arguments for a directory of suites (the library's
// policies/ holds suite.yaml and suite-kinds.yaml at its top level).
func VerifyArgs(dir string) []string {
	return []string{"verify", dir}
}
