package native

import "errors"

// errStopping ends a connection's reading when the daemon stops.
var errStopping = errors.New("agent stopping")
