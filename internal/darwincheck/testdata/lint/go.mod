module example.com/lint

go 1.26

require github.com/progrium/darwinkit v0.5.0

replace github.com/progrium/darwinkit => ./darwinkit
