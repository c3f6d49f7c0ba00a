// Command kubectl is the Kubernetes CLI, built from k8s.io/kubectl at the Kubernetes release the local control
// plane runs (the same few lines as k8s.io/kubernetes/cmd/kubectl, without depending on k8s.io/kubernetes). The
// install tests use it exactly as the docs tell users to: `kubectl kustomize`, `kubectl apply --server-side`.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
