module github.com/tinjis/tinjis/integration

go 1.26.6

require github.com/tinjis/tinjis v0.0.0

replace github.com/tinjis/tinjis => ../
