module example.com/devops-info

go 1.19
