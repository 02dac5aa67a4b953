module github.com/kvgpt/kvgpt

go 1.26
