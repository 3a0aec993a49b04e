// Package deploy holds the operators' files (deploy/Dockerfile,
// deploy/compose.yaml, the Kubernetes manifests in deploy/kubernetes) and,
// in its tests, their offline checks: every manifest is decoded strictly
// into the official Kubernetes types and cross-checked, and the Compose file
// is validated against the Compose specification. Nothing here is built or
// applied by the tests; see deploy/README.md.
package deploy
