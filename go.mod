module github.com/kvgpt/kvgpt

go 1.26

require (
	github.com/progrium/darwinkit v0.5.0
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
