module example.com/minbase/vendored

go 1.21

require example.com/minbase/shout v0.1.0
