// Package deploy holds no code: it exists so that the tests beside the
// deployment files (Dockerfile, compose.yaml, the Kubernetes manifests) run
// with the rest of the suite and keep those files honest.
package deploy
