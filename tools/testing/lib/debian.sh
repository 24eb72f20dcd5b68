# SPDX-License-Identifier: GPL-2.0
# Fetching packages from Debian's archive with a private apt configuration. Sourced
# after common.sh, not run.
#
# The configuration lives in $CACHE/apt-SUITE: its own sources.list (one line: the
# machine's own mirror, with SUITE), package lists and downloads. The system's apt
# configuration is only read (for the mirror), never changed, and nothing is
# installed: packages are downloaded and unpacked by the caller.

# Sets apt_dir and apt_opts for SUITE; fails when the machine has no Debian mirror.
debian_apt_config() { # SUITE
	local suite=$1 mirror
	mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[[ -n "$mirror" ]] || mirror=$(awk '/^deb / { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
	[[ -n "$mirror" ]] || { log "no Debian mirror configured on this machine"; return 1; }
	apt_dir="$CACHE/apt-$suite"
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
	echo "deb $mirror $suite main" >"$apt_dir/sources.list"
	apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list"
		-o "Dir::Etc::sourceparts=/dev/null"
		-o "Dir::State::lists=$apt_dir/lists"
		-o "Dir::Cache::archives=$apt_dir/archives"
		-o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
}

# Refreshes the package lists of SUITE (at most once per run of a script).
debian_apt_update() { # SUITE
	debian_apt_config "$1" || return 1
	[[ "${debian_apt_updated:-}" == "$1" ]] && return 0
	apt-get -qq "${apt_opts[@]}" update >&2 || return 1
	debian_apt_updated=$1
}

# Prints the path of the .deb of PKG (at VERSION, else the newest in SUITE) in
# $CACHE/apt-SUITE, downloading it only when no matching file is there yet.
debian_download() { # SUITE PKG [VERSION]
	local suite=$1 pkg=$2 version=${3:-} deb
	debian_apt_config "$suite" || return 1
	deb=$(debian_cached_deb "$suite" "$pkg" "$version") && { echo "$deb"; return 0; }
	debian_apt_update "$suite" || return 1
	log "fetching $pkg${version:+ $version} from $suite"
	(cd "$apt_dir" && apt-get -qq "${apt_opts[@]}" download "$pkg${version:+=$version}" >&2) || return 1
	debian_cached_deb "$suite" "$pkg" "$version"
}

# The newest downloaded .deb of PKG (at VERSION when given); fails when none is.
debian_cached_deb() { # SUITE PKG [VERSION]
	local suite=$1 pkg=$2 version=${3:-} f
	local v=${version//:/%3a}
	f=$(ls "$CACHE/apt-$suite/${pkg}_${v:-*}_"*.deb 2>/dev/null | sort -V | tail -n 1)
	[[ -n "$f" ]] && echo "$f"
}

# The version of PKG that SUITE offers (from the package lists; updated if empty).
debian_version() { # SUITE PKG
	local suite=$1 pkg=$2 v
	debian_apt_config "$suite" || return 1
	v=$(apt-cache "${apt_opts[@]}" show "$pkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
	if [[ -z "$v" ]]; then
		debian_apt_update "$suite" || return 1
		v=$(apt-cache "${apt_opts[@]}" show "$pkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
	fi
	[[ -n "$v" ]] && echo "$v"
}
