module example.com/minbase/tools

go 1.21
