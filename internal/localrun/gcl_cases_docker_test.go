package localrun_test

var gclDockerCases = []gclCase{}
