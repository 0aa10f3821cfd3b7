// Package outputs names the outputs of a tinjis stack: the program exports
// them, the acceptance command and the tests read them. It imports nothing,
// so reading an output links nothing of the program.
package outputs

// The stack's outputs, as `pulumi stack output` names them.
const (
	// AntaeusURL is where Antaeus is reached from outside the cluster.
	AntaeusURL = "antaeusUrl"
	// PaymentsEndpoint is the in-cluster URL Antaeus posts charges to.
	PaymentsEndpoint = "paymentsEndpoint"
	// AntaeusNamespace and PaymentsNamespace are the namespaces as the
	// cluster named them.
	AntaeusNamespace  = "antaeusNamespace"
	PaymentsNamespace = "paymentsNamespace"
	// Deployers maps each developer to the services they may deploy.
	Deployers = "deployers"
)

// NodeAddress stands for any node's address in AntaeusURL when Antaeus is
// exposed on a node port: the program cannot know which node a user reaches.
const NodeAddress = "<node-address>"
