#!/bin/sh
# Authors of a file, by number of lines they last touched.
git blame --line-porcelain -- "$1" | sed -n 's/^author //p' | sort | uniq -c | sort -rn
