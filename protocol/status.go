package protocol

// Status is a response status code (u16 on the wire). Numbers are stable.
type Status uint16

const (
	StatusOK                   Status = 0
	StatusBadRequest           Status = 1
	StatusUnknownOp            Status = 2
	StatusUnsupportedVersion   Status = 3
	StatusFrameTooLarge        Status = 4
	StatusPermissionDenied     Status = 5
	StatusKeyNotFound          Status = 6
	StatusKeyExists            Status = 7
	StatusInvalidAlias         Status = 8
	StatusUnsupportedAlgorithm Status = 9
	StatusIncompatiblePurpose  Status = 10
	StatusWrongPIN             Status = 11
	StatusLockedOut            Status = 12
	StatusPolicyMismatch       Status = 13
	StatusKeyInvalidated       Status = 14
	StatusTPMChanged           Status = 15
	StatusTPMUnavailable       Status = 16
	StatusTPMError             Status = 17
	StatusRateLimited          Status = 18
	StatusQuotaExceeded        Status = 19
	StatusBusy                 Status = 20
	StatusInternal             Status = 21
	StatusDecryptFailed        Status = 22
	StatusKeyVersionDisabled   Status = 23
	StatusNotExportable        Status = 24
	StatusImportFailed         Status = 25
)
