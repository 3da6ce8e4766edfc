module example.com/minbase/rangeint

go 1.22
