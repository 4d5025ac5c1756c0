module github.com/ctdefer/ctdefer

go 1.24.0

require (
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	github.com/stretchr/testify v1.11.1
	go.uber.org/atomic v1.11.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.41.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
