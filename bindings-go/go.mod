module sliceplane.example/sliceplane

go 1.26
