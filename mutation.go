package ctdefer

// mutationKind selects a deliberately broken variant of the delivery path,
// for the interleaving explorer's mutant runs
// (internal/explore/runtime_test.go). In normal builds mutation is the
// constant mutNone (mutation_off.go) and every check of it compiles away.
type mutationKind uint8

const (
	mutNone           mutationKind = iota
	mutDoubleDelivery              // a deferred delivery is also posted as an IPI: seed 000's double execution
)
