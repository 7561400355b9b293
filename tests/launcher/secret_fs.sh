# A class executable for the launcher's secret test, run as /bin/sh SCRIPT:
# records the secret it reads on stdin, then becomes memfs.
# usage: sh secret_fs.sh RECORD MEMFS MOUNTPOINT READYFD
record=$1
memfs=$2
shift 2
IFS= read -r secret || exit 3  # the daemon ends it with a newline
printf '%s' "$secret" > "$record"
secret=
exec "$memfs" "$1" --ready-fd "$2"
