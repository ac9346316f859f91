function sharp() { throw new Error('sharp is not part of the gpu-bench bundle'); }
module.exports = sharp; module.exports.default = sharp;
