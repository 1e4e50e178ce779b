# The team's shell defaults.
export EDITOR=vim
setopt HIST_IGNORE_DUPS
alias ll='ls -la'
