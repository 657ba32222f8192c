"""Makes TensorBoard's own Python code importable from a source checkout, without pip.

TensorBoard's repository (github.com/tensorflow/tensorboard) ships .proto files, not the generated
*_pb2.py modules. prepare() copies the tree's Python and .proto files into a temporary directory,
compiles the protos there with protoc, and puts that directory first on sys.path. Only Debian's
python3-protobuf (and python3-numpy) are needed; TensorFlow is not: TensorBoard then uses its own
pure-Python stub (tensorboard/compat/tensorflow_stub), whose record reader checks both CRCs.

protoc: $PROTOC, else `protoc` on PATH, else the protoc artifact in ~/.m2 (the one Maven's protobuf
plugin downloaded for the protocol module). Newer protoc versions stamp a runtime version check into
the generated code that Debian's older protobuf runtime lacks; that check is removed.
"""
import atexit
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile


def find_protoc():
    if os.environ.get("PROTOC"):
        return os.environ["PROTOC"]
    on_path = shutil.which("protoc")
    if on_path:
        return on_path
    found = sorted(glob.glob(os.path.expanduser("~/.m2/repository/com/google/protobuf/protoc/*/protoc-*-linux-x86_64.exe")))
    if not found:
        sys.exit("no protoc: set PROTOC, install protobuf-compiler, or build the protocol module once with Maven")
    exe = os.path.join(tempfile.mkdtemp(prefix="protoc-"), "protoc")
    shutil.copy(found[-1], exe)
    os.chmod(exe, os.stat(exe).st_mode | stat.S_IXUSR)
    return exe


def well_known_includes(work):
    """A directory holding google/protobuf/*.proto: /usr/include (libprotobuf-dev), else the protobuf-java jar in ~/.m2."""
    if os.path.isfile("/usr/include/google/protobuf/any.proto"):
        return "/usr/include"
    jars = sorted(glob.glob(os.path.expanduser("~/.m2/repository/com/google/protobuf/protobuf-java/*/protobuf-java-*.jar")))
    if not jars:
        sys.exit("no google/protobuf/*.proto: install libprotobuf-dev or build the protocol module once with Maven")
    out = os.path.join(work, "_wkt")
    with zipfile.ZipFile(jars[-1]) as z:
        for name in z.namelist():
            if name.startswith("google/protobuf/") and name.endswith(".proto"):
                z.extract(name, out)
    return out


_RUNTIME_CHECK = re.compile(r"^_runtime_version\.ValidateProtobufRuntimeVersion\(.*?^\)\n", re.S | re.M)


def prepare(tb_src):
    """tb_src: root of a tensorboard checkout (the directory holding tensorboard/)."""
    pkg = os.path.join(tb_src, "tensorboard")
    if not os.path.isfile(os.path.join(pkg, "compat", "proto", "event.proto")):
        sys.exit("%s is not a tensorboard source tree (no tensorboard/compat/proto/event.proto)" % tb_src)
    work = tempfile.mkdtemp(prefix="tb-src-")
    atexit.register(shutil.rmtree, work, True)
    protos = []
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = [d for d in dirnames if d not in ("webapp", "node_modules", "_wkt")]
        rel = os.path.relpath(dirpath, tb_src)
        for name in filenames:
            if name.endswith(".py") or name.endswith(".proto"):
                os.makedirs(os.path.join(work, rel), exist_ok=True)
                shutil.copy(os.path.join(dirpath, name), os.path.join(work, rel, name))
                if name.endswith(".proto") and not name.endswith("_test.proto"):
                    protos.append(os.path.join(rel, name))
    subprocess.run([find_protoc(), "-I" + work, "-I" + well_known_includes(work), "--python_out=" + work] + sorted(protos), check=True, cwd=work)
    for path in glob.glob(os.path.join(work, "**", "*_pb2.py"), recursive=True):
        with open(path) as f:
            code = f.read()
        code = code.replace("from google.protobuf import runtime_version as _runtime_version\n", "")
        code = _RUNTIME_CHECK.sub("", code)
        with open(path, "w") as f:
            f.write(code)
    sys.path.insert(0, work)
    return work


def source_dir(argv_value):
    """The tensorboard source tree: the given argument, else $MERT_TENSORBOARD_SRC."""
    path = argv_value or os.environ.get("MERT_TENSORBOARD_SRC")
    if not path:
        sys.exit("give the tensorboard source tree (a checkout of github.com/tensorflow/tensorboard) "
                 "as --tensorboard-src or in MERT_TENSORBOARD_SRC")
    return path
