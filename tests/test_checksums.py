import hashlib

from course_utils.checksums import file_sha256


def test_file_sha256_matches_the_published_digest_and_reads_in_blocks(tmp_path):
    small = tmp_path / "abc.txt"
    small.write_bytes(b"abc")  # FIPS 180-2's test vector
    assert file_sha256(small) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    large = tmp_path / "large.bin"
    content = bytes(range(256)) * 9000  # 2.3 MB: crosses the 1 MiB block boundary twice
    large.write_bytes(content)
    assert file_sha256(str(large)) == hashlib.sha256(content).hexdigest()
