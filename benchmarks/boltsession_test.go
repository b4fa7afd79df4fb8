package benchmarks

import "testing"

func boltsessionStoreStacks() []storeStack { return nil }

func boltsessionParallelStacks() []parallelStack { return nil }

var _ = testing.Short
