# shellcheck shell=bash
# A private OpenSSH server for tests and benchmarks (sourced): generated keys, its own config in a
# work directory, key login only, listening on a loopback port. Callers start it themselves
# (`sshd -D -e -f DIR/sshd_config`, in a namespace or not) and add their own lines to the config.
#
#   write_private_sshd DIR PORT HOST_NAME TAG
#     DIR/host_key, DIR/client_key (+ .pub), DIR/authorized_keys, DIR/known_hosts (the host key
#     under HOST_NAME, as the client will name it), DIR/sshd_config. TAG names the keys.
# private_sshd_usable: root, sshd and ssh-keygen are here (sshd needs root for its privilege separation).
private_sshd_usable() {
  [ "$(id -u)" -eq 0 ] && command -v sshd >/dev/null && command -v ssh-keygen >/dev/null
}

write_private_sshd() {
  local dir=$1 port=$2 host_name=$3 tag=$4
  mkdir -p "$dir" /run/sshd
  chmod 0755 /run/sshd  # sshd's privilege separation directory
  ssh-keygen -q -t ed25519 -N '' -C "$tag host key" -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C "$tag client" -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  echo "$host_name $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
EOF
}
